import { expect } from 'chai';
import { ResponseMeter } from '../../../bench/loadgen/response-meter.js';

const event = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`;

describe('loadgen response meter', () => {
  it('times the first content event, not the role-only one, across chunk boundaries', () => {
    const m = new ResponseMeter(true);
    const role = event({ choices: [{ delta: { role: 'assistant', content: '' } }] });
    const first = event({ choices: [{ delta: { content: 'Hel' } }] });
    m.push(role, 10);
    m.push(first.slice(0, 15), 20);
    expect(m.firstContentAt).to.equal(undefined);
    m.push(first.slice(15), 30);
    m.push(event({ choices: [{ delta: { content: 'lo' } }] }) + event({ choices: [], usage: { prompt_tokens: 9, completion_tokens: 2 } }), 40);
    m.push('data: [DONE]\n\n', 50);
    m.end(50);
    expect(m.firstContentAt).to.equal(30);
    expect(m.contentEvents).to.equal(2);
    expect(m.usage).to.deep.equal({ promptTokens: 9, completionTokens: 2 });
    expect(m.outputTokens()).to.equal(2);
  });

  it('counts completions text events when no usage comes, and notices error events', () => {
    const m = new ResponseMeter(true);
    m.push(event({ choices: [{ text: 'a' }] }) + event({ choices: [{ text: 'b' }] }) + 'data: {"error":{"message":"engine died"}}\r\n', 5);
    m.end(6);
    expect(m.outputTokens()).to.equal(2);
    expect(m.streamError).to.equal('engine died');
  });

  it('reads usage from a JSON body at the end', () => {
    const m = new ResponseMeter(false);
    m.push('{"choices":[{"message":{"content":"x"}}],"usage":{"prompt_tok', 1);
    m.push('ens":3,"completion_tokens":4}}', 2);
    m.end(3);
    expect(m.outputTokens()).to.equal(4);
    expect(m.firstContentAt).to.equal(undefined);
  });
});
