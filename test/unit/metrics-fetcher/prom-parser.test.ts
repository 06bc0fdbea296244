import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { familyFilter, findFamily, parsePrometheusText } from '../../../src/metrics-fetcher/prom-parser.js';

const fixture = (name: string): string =>
  readFileSync(new URL(`../../support/fixtures/metrics/${name}`, import.meta.url), 'utf8');

describe('prom-parser', () => {
  it('parses HELP, TYPE, labels and values', () => {
    const { families, malformedLines } = parsePrometheusText(
      [
        '# HELP vllm:num_requests_running Number of requests in model execution batches.',
        '# TYPE vllm:num_requests_running gauge',
        'vllm:num_requests_running{engine="0",model_name="m"} 5.0',
        'vllm:num_requests_running{engine="1",model_name="m"} 3',
      ].join('\n'),
    );
    expect(malformedLines).to.equal(0);
    const family = families.get('vllm:num_requests_running');
    expect(family?.type).to.equal('gauge');
    expect(family?.help).to.equal('Number of requests in model execution batches.');
    expect(family?.samples.map((s) => [s.labels.engine, s.labels.model_name, s.value])).to.deep.equal([
      ['0', 'm', 5],
      ['1', 'm', 3],
    ]);
  });

  it('unescapes label values and HELP text', () => {
    const { families, malformedLines } = parsePrometheusText(
      [
        '# HELP x A \\\\ backslash and a\\nnewline',
        'x{path="C:\\\\models\\\\llama",quote="say \\"hi\\"",multi="a\\nb",plain="no escapes"} 1',
      ].join('\n'),
    );
    expect(malformedLines).to.equal(0);
    const family = families.get('x');
    expect(family?.help).to.equal('A \\ backslash and a\nnewline');
    expect({ ...family?.samples[0]?.labels }).to.deep.equal({
      path: 'C:\\models\\llama',
      quote: 'say "hi"',
      multi: 'a\nb',
      plain: 'no escapes',
    });
  });

  it('keeps label values containing braces, commas and spaces', () => {
    const { families } = parsePrometheusText('x{a="{b,c} d=e",z="}"} 2\n');
    expect({ ...families.get('x')?.samples[0]?.labels }).to.deep.equal({ a: '{b,c} d=e', z: '}' });
  });

  it('reads optional timestamps (integer ms, negative, OpenMetrics float seconds)', () => {
    const { families, malformedLines } = parsePrometheusText(
      ['a 1 1712345678901', 'b 2 -5', 'c 3 1712345678.901', 'd 4'].join('\n'),
    );
    expect(malformedLines).to.equal(0);
    expect(families.get('a')?.samples[0]?.timestamp).to.equal(1712345678901);
    expect(families.get('b')?.samples[0]?.timestamp).to.equal(-5);
    expect(families.get('c')?.samples[0]?.timestamp).to.equal(1712345678.901);
    expect(families.get('d')?.samples[0]).to.not.have.property('timestamp');
  });

  it('parses NaN, +Inf, -Inf, Inf and Go/Python number spellings', () => {
    const { families, malformedLines } = parsePrometheusText(
      ['a NaN', 'b +Inf', 'c -Inf', 'd Inf', 'e 1.0498945024e+011', 'f -0.5', 'g 1e-05', 'h +3'].join('\n'),
    );
    expect(malformedLines).to.equal(0);
    const v = (n: string): number | undefined => families.get(n)?.samples[0]?.value;
    expect(v('a')).to.be.NaN;
    expect(v('b')).to.equal(Infinity);
    expect(v('c')).to.equal(-Infinity);
    expect(v('d')).to.equal(Infinity);
    expect(v('e')).to.equal(104989450240);
    expect(v('f')).to.equal(-0.5);
    expect(v('g')).to.equal(0.00001);
    expect(v('h')).to.equal(3);
  });

  it('groups histogram _bucket/_sum/_count samples into one family', () => {
    const { families } = parsePrometheusText(
      [
        '# TYPE ttft histogram',
        'ttft_bucket{le="0.1",model_name="m"} 2.0',
        'ttft_bucket{le="+Inf",model_name="m"} 5.0',
        'ttft_count{model_name="m"} 5.0',
        'ttft_sum{model_name="m"} 1.25',
        'ttft_created{model_name="m"} 1.7e+09',
      ].join('\n'),
    );
    expect([...families.keys()]).to.deep.equal(['ttft']);
    const family = families.get('ttft');
    expect(family?.type).to.equal('histogram');
    expect(family?.samples.map((s) => s.name)).to.deep.equal([
      'ttft_bucket',
      'ttft_bucket',
      'ttft_count',
      'ttft_sum',
      'ttft_created',
    ]);
    expect(family?.samples[1]?.labels.le).to.equal('+Inf');
  });

  it('finds histogram samples that appear away from their TYPE line', () => {
    const { families } = parsePrometheusText(
      ['# TYPE h histogram', 'h_sum 1', '# TYPE g gauge', 'g 2', 'h_count 4'].join('\n'),
    );
    expect(families.get('h')?.samples.map((s) => s.name)).to.deep.equal(['h_sum', 'h_count']);
    expect(families.get('g')?.samples).to.have.length(1);
  });

  it('handles counters declared with and without _total', () => {
    const { families } = parsePrometheusText(
      [
        '# TYPE vllm:generation_tokens_total counter', // prometheus_client text 0.0.4
        'vllm:generation_tokens_total{model_name="m"} 10.0',
        '# TYPE sglang_requests counter', // OpenMetrics-style family name
        'sglang_requests_total 7',
        'sglang_requests_created 1.7e9',
        '# TYPE tgi_request_count counter', // metrics-rs: no suffix at all
        'tgi_request_count 3',
      ].join('\n'),
    );
    expect(findFamily(families, 'vllm:generation_tokens')?.samples[0]?.value).to.equal(10);
    expect(findFamily(families, 'vllm:generation_tokens_total')?.samples[0]?.value).to.equal(10);
    const om = findFamily(families, 'sglang_requests_total');
    expect(om?.name).to.equal('sglang_requests');
    expect(om?.samples.map((s) => s.name)).to.deep.equal(['sglang_requests_total', 'sglang_requests_created']);
    expect(findFamily(families, 'tgi_request_count')?.samples[0]?.value).to.equal(3);
  });

  it('groups summary quantiles, _sum and _count', () => {
    const { families } = parsePrometheusText(
      ['# TYPE rpc summary', 'rpc{quantile="0.5"} 0.2', 'rpc{quantile="0.99"} 1.5', 'rpc_sum 9', 'rpc_count 30'].join('\n'),
    );
    expect(families.get('rpc')?.type).to.equal('summary');
    expect(families.get('rpc')?.samples).to.have.length(4);
  });

  it('keeps samples without TYPE lines as untyped families of their own name', () => {
    const { families } = parsePrometheusText('foo_sum 1\nfoo_count 2\nbar 3\nbar{x="y"} 4\n');
    expect(families.get('foo_sum')?.type).to.equal('untyped');
    expect(families.get('foo_count')?.samples[0]?.value).to.equal(2);
    expect(families.get('bar')?.samples).to.have.length(2);
  });

  it('skips and counts malformed lines without throwing, keeping the good ones', () => {
    const lines = [
      'good_a 1',
      'no_value',
      'bad_value abc',
      'unterminated{a="x} 1',
      'unquoted{a=x} 1',
      '1starts_with_digit 1',
      'extra_tokens 1 2 3',
      'dup{a="1",a="2"} 1',
      'no_space{a="1"}1',
      'bad-name 1',
      'bad_label{1a="x"} 1',
      'bad_ts 1 soon',
      '# TYPE missing_type',
      'good_b{a="1",} 2',
      'good_c{} 3',
    ];
    const { families, malformedLines } = parsePrometheusText(lines.join('\n'));
    expect(malformedLines).to.equal(12);
    expect([...families.keys()].sort()).to.deep.equal(['good_a', 'good_b', 'good_c']);
    expect(families.get('good_b')?.samples[0]?.labels.a).to.equal('1');
  });

  it('tolerates CRLF, blank lines, indentation, tabs and free-form comments', () => {
    const { families, malformedLines } = parsePrometheusText(
      '# a comment\r\n\r\n   \r\n  # TYPE g gauge\r\n\tg{a="b"}\t7\r\n# UNIT g seconds\r\n',
    );
    expect(malformedLines).to.equal(0);
    expect(families.get('g')?.samples[0]?.value).to.equal(7);
    expect(families.get('g')?.type).to.equal('gauge');
  });

  it('stops at the OpenMetrics # EOF marker and ignores exemplars', () => {
    const { families, malformedLines } = parsePrometheusText(
      ['# TYPE c counter', 'c_total 5 # {trace_id="abc"} 1.0 1712345678.1', '# EOF', 'after 1'].join('\n'),
    );
    expect(malformedLines).to.equal(0);
    expect(families.get('c')?.samples[0]?.value).to.equal(5);
    expect(families.has('after')).to.equal(false);
  });

  it('parses only the requested families when given a filter', () => {
    const keep = familyFilter(['vllm:num_requests_running', 'vllm:generation_tokens', 'vllm:time_to_first_token_seconds']);
    const { families } = parsePrometheusText(fixture('vllm-current.txt'), { keepFamily: keep });
    expect([...families.keys()].sort()).to.deep.equal([
      'vllm:generation_tokens_total',
      'vllm:num_requests_running',
      'vllm:time_to_first_token_seconds',
    ]);
    expect(families.get('vllm:time_to_first_token_seconds')?.samples.length).to.equal(2 * (22 + 1 + 2));
  });

  it('can skip histogram buckets while keeping _sum and _count', () => {
    const { families } = parsePrometheusText(fixture('vllm-current.txt'), { skipBuckets: true });
    const ttft = families.get('vllm:time_to_first_token_seconds');
    expect(ttft?.samples.map((s) => s.name).sort()).to.deep.equal([
      'vllm:time_to_first_token_seconds_count',
      'vllm:time_to_first_token_seconds_count',
      'vllm:time_to_first_token_seconds_sum',
      'vllm:time_to_first_token_seconds_sum',
    ]);
    // Only histogram buckets go: a gauge whose name happens to end in _bucket stays.
    const other = parsePrometheusText('# TYPE my_bucket gauge\nmy_bucket 4\n', { skipBuckets: true });
    expect(other.families.get('my_bucket')?.samples[0]?.value).to.equal(4);
  });

  it('parses every fixture cleanly', () => {
    for (const name of ['vllm-current.txt', 'vllm-old.txt', 'sglang.txt', 'tgi.txt']) {
      const { families, malformedLines } = parsePrometheusText(fixture(name));
      expect(malformedLines, name).to.equal(0);
      expect(families.size, name).to.be.greaterThan(10);
    }
    const { families } = parsePrometheusText(fixture('vllm-current.txt'));
    // A histogram whose name ends in _total must stay one histogram family.
    expect(families.get('vllm:iteration_tokens_total')?.type).to.equal('histogram');
    expect(families.get('vllm:iteration_tokens_total')?.samples.filter((s) => s.name.endsWith('_sum'))).to.have.length(2);
    expect(families.get('vllm:cache_config_info')?.samples[0]?.labels.num_gpu_blocks).to.equal('31257');
  });

  it('never throws on arbitrary input', () => {
    let seed = 12345;
    const random = (): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const alphabet = 'ab_:{}"=,\\ \t\n#+-.eE0123456789NaInf\r';
    for (let round = 0; round < 200; round++) {
      let text = '';
      for (let i = 0; i < 300; i++) text += alphabet[Math.floor(random() * alphabet.length)];
      expect(() => parsePrometheusText(text)).to.not.throw();
    }
  });
});
