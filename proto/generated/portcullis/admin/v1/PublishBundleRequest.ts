// Original file: proto/admin.proto

import type { SourceFile as _portcullis_admin_v1_SourceFile, SourceFile__Output as _portcullis_admin_v1_SourceFile__Output } from '../../../portcullis/admin/v1/SourceFile.js';

export interface PublishBundleRequest {
  'files'?: (_portcullis_admin_v1_SourceFile)[];
  'no_activate'?: (boolean);
  'note'?: (string);
}

export interface PublishBundleRequest__Output {
  'files': (_portcullis_admin_v1_SourceFile__Output)[];
  'no_activate': (boolean);
  'note': (string);
}
