// Original file: proto/admin.proto

import type { Long } from '@grpc/proto-loader';

export interface DataPlane {
  'id'?: (string);
  'region'?: (string);
  'version'?: (string);
  'revision'?: (string);
  'load_error'?: (string);
  'sessions'?: (number | string | Long);
  'last_seen_at'?: (string);
  'first_seen_at'?: (string);
  'converged'?: (boolean);
  'live'?: (boolean);
  'wanted_revision'?: (string);
  'labels'?: ({[key: string]: string});
  'nats_server'?: (string);
  'nats_cluster'?: (string);
  'canary'?: (boolean);
}

export interface DataPlane__Output {
  'id': (string);
  'region': (string);
  'version': (string);
  'revision': (string);
  'load_error': (string);
  'sessions': (number);
  'last_seen_at': (string);
  'first_seen_at': (string);
  'converged': (boolean);
  'live': (boolean);
  'wanted_revision': (string);
  'labels': ({[key: string]: string});
  'nats_server': (string);
  'nats_cluster': (string);
  'canary': (boolean);
}
