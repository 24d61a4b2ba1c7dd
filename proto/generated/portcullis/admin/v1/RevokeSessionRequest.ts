// Original file: proto/admin.proto


export interface RevokeSessionRequest {
  'session_id'?: (string);
  'reason'?: (string);
  'no_wait'?: (boolean);
  'wait_timeout_ms'?: (number);
}

export interface RevokeSessionRequest__Output {
  'session_id': (string);
  'reason': (string);
  'no_wait': (boolean);
  'wait_timeout_ms': (number);
}
