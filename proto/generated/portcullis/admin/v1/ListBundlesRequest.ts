// Original file: proto/admin.proto


export interface ListBundlesRequest {
  'limit'?: (number);
  'statuses'?: (string)[];
}

export interface ListBundlesRequest__Output {
  'limit': (number);
  'statuses': (string)[];
}
