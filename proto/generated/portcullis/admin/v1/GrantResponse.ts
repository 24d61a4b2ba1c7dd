// Original file: proto/admin.proto

import type { GrantMessage as _portcullis_admin_v1_GrantMessage, GrantMessage__Output as _portcullis_admin_v1_GrantMessage__Output } from '../../../portcullis/admin/v1/GrantMessage.js';

export interface GrantResponse {
  'grant'?: (_portcullis_admin_v1_GrantMessage | null);
  'published'?: (boolean);
  'publish_error'?: (string);
}

export interface GrantResponse__Output {
  'grant': (_portcullis_admin_v1_GrantMessage__Output | null);
  'published': (boolean);
  'publish_error': (string);
}
