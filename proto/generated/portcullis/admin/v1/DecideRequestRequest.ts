// Original file: proto/admin.proto


export interface DecideRequestRequest {
  'id'?: (string);
  'note'?: (string);
}

export interface DecideRequestRequest__Output {
  'id': (string);
  'note': (string);
}
