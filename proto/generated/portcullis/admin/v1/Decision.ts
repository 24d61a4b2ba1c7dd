// Original file: proto/admin.proto

import type { ShadowVerdict as _portcullis_admin_v1_ShadowVerdict, ShadowVerdict__Output as _portcullis_admin_v1_ShadowVerdict__Output } from '../../../portcullis/admin/v1/ShadowVerdict.js';

export interface Decision {
  'at'?: (string);
  'data_plane_id'?: (string);
  'session_id'?: (string);
  'subject'?: (string);
  'kind'?: (string);
  'allow'?: (boolean);
  'reasons'?: (string)[];
  'revision'?: (string);
  'statement_fingerprint'?: (string);
  'statement_text'?: (string);
  'id'?: (string);
  'result'?: (string);
  'region'?: (string);
  'issuer'?: (string);
  'db_role'?: (string);
  'database'?: (string);
  'protocol'?: (string);
  'statement_kind'?: (string);
  'statement_command'?: (string);
  'relations'?: (string)[];
  'eval_micros'?: (number | string);
  'cached'?: (boolean);
  'statement_truncated'?: (boolean);
  'client_addr'?: (string);
  'application_name'?: (string);
  'shadow'?: (_portcullis_admin_v1_ShadowVerdict | null);
  'replayable'?: (boolean);
  '_shadow'?: "shadow";
}

export interface Decision__Output {
  'at': (string);
  'data_plane_id': (string);
  'session_id': (string);
  'subject': (string);
  'kind': (string);
  'allow': (boolean);
  'reasons': (string)[];
  'revision': (string);
  'statement_fingerprint': (string);
  'statement_text': (string);
  'id': (string);
  'result': (string);
  'region': (string);
  'issuer': (string);
  'db_role': (string);
  'database': (string);
  'protocol': (string);
  'statement_kind': (string);
  'statement_command': (string);
  'relations': (string)[];
  'eval_micros': (number);
  'cached': (boolean);
  'statement_truncated': (boolean);
  'client_addr': (string);
  'application_name': (string);
  'shadow'?: (_portcullis_admin_v1_ShadowVerdict__Output | null);
  'replayable': (boolean);
  '_shadow'?: "shadow";
}
