export * from './alert-event';
export * from './decimal';
export * from './monitor-config';
export * from './oscillation-detector';
export * from './pair';
export * from './redis-keys';
export * from './ticker';
export * from './worker-env';
