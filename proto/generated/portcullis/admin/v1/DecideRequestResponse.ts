// Original file: proto/admin.proto

import type { AccessRequest as _portcullis_admin_v1_AccessRequest, AccessRequest__Output as _portcullis_admin_v1_AccessRequest__Output } from '../../../portcullis/admin/v1/AccessRequest.js';
import type { GrantResponse as _portcullis_admin_v1_GrantResponse, GrantResponse__Output as _portcullis_admin_v1_GrantResponse__Output } from '../../../portcullis/admin/v1/GrantResponse.js';

export interface DecideRequestResponse {
  'request'?: (_portcullis_admin_v1_AccessRequest | null);
  'grant'?: (_portcullis_admin_v1_GrantResponse | null);
  '_grant'?: "grant";
}

export interface DecideRequestResponse__Output {
  'request': (_portcullis_admin_v1_AccessRequest__Output | null);
  'grant'?: (_portcullis_admin_v1_GrantResponse__Output | null);
  '_grant'?: "grant";
}
