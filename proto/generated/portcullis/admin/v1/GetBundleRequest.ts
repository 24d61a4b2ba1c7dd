// Original file: proto/admin.proto


export interface GetBundleRequest {
  'revision'?: (string);
  'include_bytes'?: (boolean);
}

export interface GetBundleRequest__Output {
  'revision': (string);
  'include_bytes': (boolean);
}
