// Original file: proto/admin.proto


export interface QueryDecisionsRequest {
  'subject'?: (string);
  'session_id'?: (string);
  'since'?: (string);
  'until'?: (string);
  'denied_only'?: (boolean);
  'limit'?: (number);
  'result'?: (string);
  'relation'?: (string);
  'data_plane_id'?: (string);
  'kind'?: (string);
  'page_token'?: (string);
  'page_size'?: (number);
}

export interface QueryDecisionsRequest__Output {
  'subject': (string);
  'session_id': (string);
  'since': (string);
  'until': (string);
  'denied_only': (boolean);
  'limit': (number);
  'result': (string);
  'relation': (string);
  'data_plane_id': (string);
  'kind': (string);
  'page_token': (string);
  'page_size': (number);
}
