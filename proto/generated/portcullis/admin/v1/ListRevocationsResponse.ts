// Original file: proto/admin.proto

import type { Revocation as _portcullis_admin_v1_Revocation, Revocation__Output as _portcullis_admin_v1_Revocation__Output } from '../../../portcullis/admin/v1/Revocation.js';

export interface ListRevocationsResponse {
  'revocations'?: (_portcullis_admin_v1_Revocation)[];
}

export interface ListRevocationsResponse__Output {
  'revocations': (_portcullis_admin_v1_Revocation__Output)[];
}
