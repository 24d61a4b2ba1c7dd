// Original file: proto/admin.proto

import type { Bundle as _portcullis_admin_v1_Bundle, Bundle__Output as _portcullis_admin_v1_Bundle__Output } from '../../../portcullis/admin/v1/Bundle.js';

export interface PublishBundleResponse {
  'bundle'?: (_portcullis_admin_v1_Bundle | null);
  'activated'?: (boolean);
  'published'?: (boolean);
  'reused'?: (boolean);
}

export interface PublishBundleResponse__Output {
  'bundle': (_portcullis_admin_v1_Bundle__Output | null);
  'activated': (boolean);
  'published': (boolean);
  'reused': (boolean);
}
