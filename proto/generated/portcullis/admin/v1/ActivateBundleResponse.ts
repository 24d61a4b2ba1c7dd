// Original file: proto/admin.proto

import type { Canary as _portcullis_admin_v1_Canary, Canary__Output as _portcullis_admin_v1_Canary__Output } from '../../../portcullis/admin/v1/Canary.js';

export interface ActivateBundleResponse {
  'revision'?: (string);
  'previous_revision'?: (string);
  'activated_at'?: (string);
  'published'?: (boolean);
  'publish_error'?: (string);
  'canary'?: (_portcullis_admin_v1_Canary | null);
  'mode'?: (string);
}

export interface ActivateBundleResponse__Output {
  'revision': (string);
  'previous_revision': (string);
  'activated_at': (string);
  'published': (boolean);
  'publish_error': (string);
  'canary': (_portcullis_admin_v1_Canary__Output | null);
  'mode': (string);
}
