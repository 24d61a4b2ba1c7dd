// Original file: proto/admin.proto


export interface ActivateBundleRequest {
  'revision'?: (string);
  'reason'?: (string);
  'canary'?: (string);
  'mode'?: (string);
  'clear'?: (boolean);
}

export interface ActivateBundleRequest__Output {
  'revision': (string);
  'reason': (string);
  'canary': (string);
  'mode': (string);
  'clear': (boolean);
}
