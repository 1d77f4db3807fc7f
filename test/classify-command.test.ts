// SPDX-License-Identifier: MIT
// `iotrace classify` on a real recording: the whole session agrees with the
// live summary, a window is the activity between two snapshots, bad windows
// and files are one-line errors.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import type { Classification } from '../agent/classify/vocabulary';
import { iotraceDone, killAll } from './harness';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'iotrace-classify-'));
after(() => {
  killAll();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('iotrace classify', () => {
  const file = path.join(dir, 'epoll-lt.jsonl');
  let live: Classification;

  it('a recorded lab session: the whole recording classifies as the live summary did', async () => {
    const res = await iotraceDone(['lab', 'epoll-lt', '--duration', '3', '--record', file, '--json'], 60000);
    assert.equal(res.code, 0, res.stderr);
    live = (JSON.parse(res.stdout) as { trace: { classification: Classification } }).trace.classification;
    const lines = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { type: string; classification?: Classification });
    const snaps = lines.filter((l) => l.type === 'snapshot');
    assert.ok(snaps.length >= 3, `${snaps.length} snapshots`);
    assert.ok(snaps.every((s) => s.classification !== undefined), 'every snapshot line carries the classification so far');
    const whole = await iotraceDone(['classify', file, '--json']);
    assert.equal(whole.code, 0, whole.stderr);
    const out = JSON.parse(whole.stdout) as { fromSec: number; toSec: number; classification: Classification };
    assert.equal(out.fromSec, 0);
    assert.deepEqual(out.classification, live, 'classify on the recording = the live summary');
    assert.deepEqual(out.classification.wait.map((w) => w.label), ['epoll']);
  });

  it('a window: --from 1 --to 2 classifies the activity between those snapshots only', async () => {
    const res = await iotraceDone(['classify', file, '--from', '1', '--to', '2', '--json']);
    assert.equal(res.code, 0, res.stderr);
    const out = JSON.parse(res.stdout) as { fromSec: number; toSec: number; classification: Classification };
    assert.ok(out.fromSec > 0.5 && out.fromSec <= 1.5, String(out.fromSec));
    assert.ok(out.toSec > out.fromSec && out.toSec <= 2.5, String(out.toSec));
    assert.ok(Math.abs(out.classification.windowSec - (out.toSec - out.fromSec)) < 1e-6);
    assert.deepEqual(out.classification.wait.map((w) => w.label), ['epoll']);
    assert.ok(out.classification.costs.requests > 0 && out.classification.costs.requests < live.costs.requests, `${out.classification.costs.requests} of ${live.costs.requests}`);
    const text = await iotraceDone(['classify', file, '--from', '1', '--to', '2']);
    assert.match(text.stdout, /^I\/O model \(/m);
    assert.match(text.stdout, /wait +epoll/);
  });

  it('bad windows and bad files: one line, non-zero exit', async () => {
    const backwards = await iotraceDone(['classify', file, '--from', '2', '--to', '1']);
    assert.equal(backwards.code, 2);
    assert.equal(backwards.stderr.trim().split('\n').length, 1, backwards.stderr);
    const missing = await iotraceDone(['classify', path.join(dir, 'nope.jsonl')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^iotrace: .*nope\.jsonl/);
    assert.doesNotMatch(missing.stderr, /at .*\.js:\d+/);
    const junk = path.join(dir, 'junk.jsonl');
    fs.writeFileSync(junk, 'not json\n');
    const bad = await iotraceDone(['classify', junk]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /line 1/);
  });
});
