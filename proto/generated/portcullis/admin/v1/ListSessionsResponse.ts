// Original file: proto/admin.proto

import type { Session as _portcullis_admin_v1_Session, Session__Output as _portcullis_admin_v1_Session__Output } from '../../../portcullis/admin/v1/Session.js';

export interface ListSessionsResponse {
  'sessions'?: (_portcullis_admin_v1_Session)[];
  'next_page_token'?: (string);
  'total_size'?: (number);
}

export interface ListSessionsResponse__Output {
  'sessions': (_portcullis_admin_v1_Session__Output)[];
  'next_page_token': (string);
  'total_size': (number);
}
