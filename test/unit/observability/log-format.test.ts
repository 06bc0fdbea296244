import { expect } from 'chai';
import { pino } from 'pino';
import { defaultLogFormat, LogDestination, textLine } from '../../../src/observability/log-format.js';

describe('log format', () => {
  it('defaults to text on a terminal and JSON elsewhere', () => {
    expect(defaultLogFormat({ isTTY: true })).to.equal('text');
    expect(defaultLogFormat({ isTTY: false })).to.equal('json');
    expect(defaultLogFormat({})).to.equal('json');
  });

  it('writes pino entries as one readable line, or as JSON', () => {
    const written: string[] = [];
    const destination = new LogDestination('text', { write: (s: string) => written.push(s) });
    const log = pino({ base: { app: 'kthena-router' }, timestamp: () => ',"time":1765000000123' }, destination);
    log.warn({ file: '/etc/kthena/fleet.yaml', line: 3, detail: 'two words' }, 'resources: invalid YAML');
    destination.format = 'json';
    log.info('ready');
    expect(written[0]).to.equal('05:46:40.123 WARN  resources: invalid YAML file=/etc/kthena/fleet.yaml line=3 detail="two words"\n');
    expect(JSON.parse(written[1]!)).to.include({ level: 30, msg: 'ready', app: 'kthena-router' });
  });

  it('leaves a line that is not JSON as it is', () => {
    expect(textLine('plain\n')).to.equal('plain\n');
  });
});
