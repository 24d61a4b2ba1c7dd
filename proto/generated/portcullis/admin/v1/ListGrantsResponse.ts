// Original file: proto/admin.proto

import type { GrantMessage as _portcullis_admin_v1_GrantMessage, GrantMessage__Output as _portcullis_admin_v1_GrantMessage__Output } from '../../../portcullis/admin/v1/GrantMessage.js';

export interface ListGrantsResponse {
  'grants'?: (_portcullis_admin_v1_GrantMessage)[];
}

export interface ListGrantsResponse__Output {
  'grants': (_portcullis_admin_v1_GrantMessage__Output)[];
}
