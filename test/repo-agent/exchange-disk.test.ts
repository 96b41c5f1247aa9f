import { test } from 'node:test';
import { assertDiskFlatOver200Syncs } from '../support/disk-flat.js';

// Replaced trees leave the state folder after staleAfter and their objects are collected: the
// state folder plus the directory at path stay flat (the symlink variant is in git-features.test.ts).
test('exchange: with the default gc, disk use stays flat over 200 syncs', (t) => assertDiskFlatOver200Syncs(t, 'exchange'));
