// Original file: proto/admin.proto

import type { SourceFile as _portcullis_admin_v1_SourceFile, SourceFile__Output as _portcullis_admin_v1_SourceFile__Output } from '../../../portcullis/admin/v1/SourceFile.js';

export interface BundleSources {
  'revision'?: (string);
  'source_commit'?: (string);
  'files'?: (_portcullis_admin_v1_SourceFile)[];
}

export interface BundleSources__Output {
  'revision': (string);
  'source_commit': (string);
  'files': (_portcullis_admin_v1_SourceFile__Output)[];
}
