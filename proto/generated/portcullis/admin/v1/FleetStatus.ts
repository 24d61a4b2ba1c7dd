// Original file: proto/admin.proto

import type { DataPlane as _portcullis_admin_v1_DataPlane, DataPlane__Output as _portcullis_admin_v1_DataPlane__Output } from '../../../portcullis/admin/v1/DataPlane.js';
import type { Canary as _portcullis_admin_v1_Canary, Canary__Output as _portcullis_admin_v1_Canary__Output } from '../../../portcullis/admin/v1/Canary.js';

export interface FleetStatus {
  'active_revision'?: (string);
  'data_planes'?: (_portcullis_admin_v1_DataPlane)[];
  'live'?: (number);
  'converged'?: (number);
  'all_converged'?: (boolean);
  'nats_connected'?: (boolean);
  'activated_at'?: (string);
  'canary'?: (_portcullis_admin_v1_Canary | null);
}

export interface FleetStatus__Output {
  'active_revision': (string);
  'data_planes': (_portcullis_admin_v1_DataPlane__Output)[];
  'live': (number);
  'converged': (number);
  'all_converged': (boolean);
  'nats_connected': (boolean);
  'activated_at': (string);
  'canary': (_portcullis_admin_v1_Canary__Output | null);
}
