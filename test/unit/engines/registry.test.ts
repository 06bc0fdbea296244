import { expect } from 'chai';
import {
  adapterFor,
  autoAdapter,
  sglangAdapter,
  tgiAdapter,
  trtllmAdapter,
  vllmAdapter,
} from '../../../src/engines/index.js';
import { fixture, scrapeOf } from './helpers.js';

describe('engines registry', () => {
  it('finds adapters by engine name, case-insensitively', () => {
    expect(adapterFor('vLLM')).to.equal(vllmAdapter);
    expect(adapterFor('VLLM')).to.equal(vllmAdapter);
    expect(adapterFor(' SGLang ')).to.equal(sglangAdapter);
    expect(adapterFor('TGI')).to.equal(tgiAdapter);
    expect(adapterFor('text-generation-inference')).to.equal(tgiAdapter);
    expect(adapterFor('TRTLLM')).to.equal(trtllmAdapter);
    expect(adapterFor('trtllm-serve')).to.equal(trtllmAdapter);
  });

  it('falls back to detection for unknown or missing names', () => {
    expect(adapterFor('llama.cpp')).to.equal(autoAdapter);
    expect(adapterFor('')).to.equal(autoAdapter);
    expect(adapterFor(undefined)).to.equal(autoAdapter);
  });

  it('the auto adapter recognises each engine from its metrics', () => {
    expect(autoAdapter.toMetrics(scrapeOf(fixture('vllm-current.txt')))?.running).to.equal(8);
    expect(autoAdapter.toMetrics(scrapeOf(fixture('vllm-old.txt')))?.runningLoras).to.deep.equal(['sql-lora', 'tweet-lora']);
    expect(autoAdapter.toMetrics(scrapeOf(fixture('sglang.txt')))?.running).to.equal(11);
    expect(autoAdapter.toMetrics(scrapeOf(fixture('tgi.txt')))?.running).to.equal(12);
    expect(autoAdapter.toMetrics(scrapeOf('trtllm_num_requests_waiting 5\n'))?.waiting).to.equal(5);
    expect(autoAdapter.toMetrics(scrapeOf('some_other_metric 1\n'))).to.equal(undefined);
  });

  it('the auto adapter asks the parser for every engine’s families', () => {
    for (const adapter of [vllmAdapter, sglangAdapter, tgiAdapter, trtllmAdapter]) {
      for (const name of adapter.familyNames) expect(autoAdapter.familyNames).to.include(name);
    }
  });
});
