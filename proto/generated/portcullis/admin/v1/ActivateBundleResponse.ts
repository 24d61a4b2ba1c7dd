// Original file: proto/admin.proto


export interface ActivateBundleResponse {
  'revision'?: (string);
  'previous_revision'?: (string);
  'activated_at'?: (string);
  'published'?: (boolean);
  'publish_error'?: (string);
  'mode'?: (string);
}

export interface ActivateBundleResponse__Output {
  'revision': (string);
  'previous_revision': (string);
  'activated_at': (string);
  'published': (boolean);
  'publish_error': (string);
  'mode': (string);
}
