// Original file: proto/admin.proto


export interface ListRevocationsRequest {
  'include_expired'?: (boolean);
  'limit'?: (number);
}

export interface ListRevocationsRequest__Output {
  'include_expired': (boolean);
  'limit': (number);
}
