// Original file: proto/admin.proto


export interface ListGrantsRequest {
  'include_ended'?: (boolean);
  'subject'?: (string);
  'limit'?: (number);
}

export interface ListGrantsRequest__Output {
  'include_ended': (boolean);
  'subject': (string);
  'limit': (number);
}
