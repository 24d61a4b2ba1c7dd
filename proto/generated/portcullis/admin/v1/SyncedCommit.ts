// Original file: proto/admin.proto

import type { PolicyError as _portcullis_admin_v1_PolicyError, PolicyError__Output as _portcullis_admin_v1_PolicyError__Output } from '../../../portcullis/admin/v1/PolicyError.js';

export interface SyncedCommit {
  'commit'?: (string);
  'revision'?: (string);
  'status'?: (string);
  'summary'?: (string);
  'errors'?: (_portcullis_admin_v1_PolicyError)[];
}

export interface SyncedCommit__Output {
  'commit': (string);
  'revision': (string);
  'status': (string);
  'summary': (string);
  'errors': (_portcullis_admin_v1_PolicyError__Output)[];
}
