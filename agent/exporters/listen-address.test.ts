// SPDX-License-Identifier: MIT
// Where --prometheus listens: the default host, IPv6 in brackets, what is refused.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';

import { formatListenAddress, parseListenAddress } from './listen-address';

describe('parseListenAddress', () => {
  it('binds 127.0.0.1 unless another host is named', () => {
    assert.deepEqual(parseListenAddress('9464'), { host: '127.0.0.1', port: 9464 });
    assert.deepEqual(parseListenAddress(':9464'), { host: '127.0.0.1', port: 9464 });
    assert.deepEqual(parseListenAddress('0.0.0.0:9464'), { host: '0.0.0.0', port: 9464 });
    assert.deepEqual(parseListenAddress('localhost:0'), { host: 'localhost', port: 0 });
    assert.deepEqual(parseListenAddress('[::1]:9464'), { host: '::1', port: 9464 });
    assert.equal(formatListenAddress({ host: '::1', port: 9464 }), '[::1]:9464');
  });

  it('rejects what is not [host:]port', () => {
    for (const bad of ['', 'abc', '65536', '::1:9464', '[zz]:9464', 'host:', '1.2.3.4:-1', 'http://x:1']) {
      assert.throws(() => parseListenAddress(bad), /expected \[host:\]port|not an IPv6 address/, bad);
    }
  });
});
