// Original file: proto/admin.proto


export interface ListSessionsRequest {
  'subject'?: (string);
  'data_plane_id'?: (string);
  'limit'?: (number);
  'region'?: (string);
  'page_size'?: (number);
  'page_token'?: (string);
  'newest_first'?: (boolean);
  'search'?: (string);
}

export interface ListSessionsRequest__Output {
  'subject': (string);
  'data_plane_id': (string);
  'limit': (number);
  'region': (string);
  'page_size': (number);
  'page_token': (string);
  'newest_first': (boolean);
  'search': (string);
}
