// Original file: proto/admin.proto


export interface ListRequestsRequest {
  'status'?: (string);
  'subject'?: (string);
  'limit'?: (number);
}

export interface ListRequestsRequest__Output {
  'status': (string);
  'subject': (string);
  'limit': (number);
}
