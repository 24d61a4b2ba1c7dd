// Original file: proto/admin.proto

import type { SyncedCommit as _portcullis_admin_v1_SyncedCommit, SyncedCommit__Output as _portcullis_admin_v1_SyncedCommit__Output } from '../../../portcullis/admin/v1/SyncedCommit.js';

export interface SyncPoliciesResponse {
  'head'?: (string);
  'commits'?: (_portcullis_admin_v1_SyncedCommit)[];
  'active_revision'?: (string);
  'activated'?: (boolean);
  'published'?: (boolean);
}

export interface SyncPoliciesResponse__Output {
  'head': (string);
  'commits': (_portcullis_admin_v1_SyncedCommit__Output)[];
  'active_revision': (string);
  'activated': (boolean);
  'published': (boolean);
}
