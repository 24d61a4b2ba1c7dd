// Original file: proto/admin.proto


export interface RevokeGrantRequest {
  'id'?: (string);
  'reason'?: (string);
}

export interface RevokeGrantRequest__Output {
  'id': (string);
  'reason': (string);
}
