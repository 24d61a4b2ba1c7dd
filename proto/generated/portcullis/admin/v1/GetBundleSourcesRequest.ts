// Original file: proto/admin.proto


export interface GetBundleSourcesRequest {
  'revision'?: (string);
}

export interface GetBundleSourcesRequest__Output {
  'revision': (string);
}
