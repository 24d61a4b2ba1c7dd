// Original file: proto/admin.proto

import type { Bundle as _portcullis_admin_v1_Bundle, Bundle__Output as _portcullis_admin_v1_Bundle__Output } from '../../../portcullis/admin/v1/Bundle.js';

export interface ListBundlesResponse {
  'bundles'?: (_portcullis_admin_v1_Bundle)[];
  'active_revision'?: (string);
}

export interface ListBundlesResponse__Output {
  'bundles': (_portcullis_admin_v1_Bundle__Output)[];
  'active_revision': (string);
}
