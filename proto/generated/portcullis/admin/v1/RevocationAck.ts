// Original file: proto/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface RevocationAck {
  'data_plane_id'?: (string);
  'sessions_cut'?: (number | string | Long);
  'at'?: (string);
}

export interface RevocationAck__Output {
  'data_plane_id': (string);
  'sessions_cut': (number);
  'at': (string);
}
