// Original file: proto/admin.proto


export interface RevokeSubjectRequest {
  'subject'?: (string);
  'reason'?: (string);
  'no_wait'?: (boolean);
  'wait_timeout_ms'?: (number);
}

export interface RevokeSubjectRequest__Output {
  'subject': (string);
  'reason': (string);
  'no_wait': (boolean);
  'wait_timeout_ms': (number);
}
