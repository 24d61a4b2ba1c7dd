// Original file: proto/admin.proto


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
}
