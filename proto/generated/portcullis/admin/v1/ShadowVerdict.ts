// Original file: proto/admin.proto


export interface ShadowVerdict {
  'revision'?: (string);
  'allow'?: (boolean);
  'reasons'?: (string)[];
}

export interface ShadowVerdict__Output {
  'revision': (string);
  'allow': (boolean);
  'reasons': (string)[];
}
