// Original file: proto/admin.proto

import type { Revocation as _portcullis_admin_v1_Revocation, Revocation__Output as _portcullis_admin_v1_Revocation__Output } from '../../../portcullis/admin/v1/Revocation.js';
import type { RevocationAck as _portcullis_admin_v1_RevocationAck, RevocationAck__Output as _portcullis_admin_v1_RevocationAck__Output } from '../../../portcullis/admin/v1/RevocationAck.js';

export interface RevokeResponse {
  'revocation'?: (_portcullis_admin_v1_Revocation | null);
  'acks'?: (_portcullis_admin_v1_RevocationAck)[];
  'missing'?: (string)[];
  'published'?: (boolean);
  'publish_error'?: (string);
  'waited'?: (boolean);
}

export interface RevokeResponse__Output {
  'revocation': (_portcullis_admin_v1_Revocation__Output | null);
  'acks': (_portcullis_admin_v1_RevocationAck__Output)[];
  'missing': (string)[];
  'published': (boolean);
  'publish_error': (string);
  'waited': (boolean);
}
