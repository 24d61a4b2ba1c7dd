// Original file: proto/admin.proto


export interface ActivateBundleRequest {
  'revision'?: (string);
  'reason'?: (string);
  'canary'?: (string);
}

export interface ActivateBundleRequest__Output {
  'revision': (string);
  'reason': (string);
  'canary': (string);
}
