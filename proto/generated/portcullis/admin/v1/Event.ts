// Original file: proto/admin.proto


export interface Event {
  'at'?: (string);
  'kind'?: (string);
  'json'?: (string);
  'type'?: (string);
}

export interface Event__Output {
  'at': (string);
  'kind': (string);
  'json': (string);
  'type': (string);
}
