// Original file: proto/admin.proto


export interface PolicyError {
  'stage'?: (string);
  'file'?: (string);
  'row'?: (number);
  'col'?: (number);
  'code'?: (string);
  'message'?: (string);
}

export interface PolicyError__Output {
  'stage': (string);
  'file': (string);
  'row': (number);
  'col': (number);
  'code': (string);
  'message': (string);
}
