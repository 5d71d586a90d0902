import { dynamicConfigValues, TUNED_DYNAMIC_CONFIG } from '../../scripts/temporal-dev-server';

describe('the Temporal servers’ dynamic config (dev server, bench, test:cluster)', () => {
  it('is the tuned set unless TEMPORAL_DYNAMIC_CONFIG adds to it', () => {
    expect(dynamicConfigValues({})).toEqual(TUNED_DYNAMIC_CONFIG);
    expect(TUNED_DYNAMIC_CONFIG).toContain('system.enableEagerWorkflowStart=true');
  });

  it('takes values to try from TEMPORAL_DYNAMIC_CONFIG, a key given there replacing its tuned value', () => {
    const values = dynamicConfigValues({ TEMPORAL_DYNAMIC_CONFIG: ' history.timerProcessorMaxTimeShift="100ms"  history.shardIOConcurrency=8 ' });
    expect(values).toContain('history.timerProcessorMaxTimeShift="100ms"');
    expect(values.filter((v) => v.startsWith('history.shardIOConcurrency='))).toEqual(['history.shardIOConcurrency=8']);
    expect(values).toHaveLength(TUNED_DYNAMIC_CONFIG.length + 1);
  });

  it('refuses what is not KEY=VALUE', () => {
    expect(() => dynamicConfigValues({ TEMPORAL_DYNAMIC_CONFIG: 'history.timerProcessorMaxTimeShift' })).toThrow(/not KEY=VALUE/);
  });
});
