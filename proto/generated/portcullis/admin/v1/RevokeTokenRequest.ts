// Original file: proto/admin.proto


export interface RevokeTokenRequest {
  'jti'?: (string);
  'reason'?: (string);
  'no_wait'?: (boolean);
  'wait_timeout_ms'?: (number);
}

export interface RevokeTokenRequest__Output {
  'jti': (string);
  'reason': (string);
  'no_wait': (boolean);
  'wait_timeout_ms': (number);
}
