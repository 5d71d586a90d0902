import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { AdmitRequest, AdmitResult } from '../../activities/admission';
import type { WorkflowHandle } from '@temporalio/client';
import type { admissionController } from '../../workflows/admission-controller';
import { queueSettingsUpdate, queueStateQuery, type AdmissionInput } from '../../workflows/definitions';
import { eventually } from '../support/eventually';
import { timeSkippingEnv, workflowWorker } from '../support/time-skipping';

let env: TestWorkflowEnvironment;
beforeAll(async () => {
  env = await timeSkippingEnv();
});
afterAll(async () => {
  await env?.teardown();
});

/** A waiting room in memory: fans 1..n in arrival order; `admitFans` behaves like the Redis script. */
class FakeRoom {
  waiting: number[];
  active = new Set<number>();
  admittedInOrder: number[] = [];
  calls: AdmitRequest[] = [];
  maxActiveSeen = 0;
  private ticks = new Map<string, AdmitResult>();

  constructor(fans: number) {
    this.waiting = Array.from({ length: fans }, (_, i) => i + 1);
  }

  activities() {
    return {
      admitFans: async (request: AdmitRequest): Promise<AdmitResult> => {
        this.calls.push(request);
        const done = this.ticks.get(request.tickId);
        if (done) return done;
        const room = Math.max(0, request.maxActive - this.active.size);
        const batch = this.waiting.splice(0, request.paused ? 0 : Math.min(request.maxBatch, room));
        batch.forEach((fan) => this.active.add(fan));
        this.admittedInOrder.push(...batch);
        this.maxActiveSeen = Math.max(this.maxActiveSeen, this.active.size);
        const result = { admitted: batch.length, waiting: this.waiting.length, active: this.active.size };
        this.ticks.set(request.tickId, result);
        return result;
      },
    };
  }
}

async function withController(room: FakeRoom, input: Partial<AdmissionInput>, test: (handle: WorkflowHandle<typeof admissionController>) => Promise<void>) {
  const { worker, taskQueue } = await workflowWorker(env, room.activities());
  const start = () =>
    env.client.workflow.start<typeof admissionController>('admissionController', {
      workflowId: `admission-test-${randomUUID()}`,
      taskQueue,
      args: [{ concertId: randomUUID(), settings: { admitPerSecond: 5, maxActive: 1000, paused: false }, activeTtlSeconds: 600, tickMs: 1000, ...input }],
    });
  await worker.runUntil(async () => {
    const handle = await start();
    await test(handle);
    await handle.terminate('test over');
  });
}

describe('admission controller', () => {
  it('admits from the head of the queue, in arrival order, at the configured rate', async () => {
    const room = new FakeRoom(100);
    await withController(room, {}, async (controller) => {
      await env.sleep('4s');
      await eventually(async () => expect(room.admittedInOrder.length).toBeGreaterThanOrEqual(20));
      expect(room.admittedInOrder).toEqual(Array.from({ length: room.admittedInOrder.length }, (_, i) => i + 1));
      expect(room.calls.every((c) => c.maxBatch <= 5)).toBe(true);
      const state = await controller.query(queueStateQuery);
      expect(state.admittedTotal).toBe(room.admittedInOrder.length);
    });
  });

  it('never exceeds maxActive, and admits again as places free up', async () => {
    const room = new FakeRoom(100);
    await withController(room, { settings: { admitPerSecond: 20, maxActive: 10, paused: false } }, async () => {
      await env.sleep('3s');
      await eventually(async () => expect(room.active.size).toBe(10));
      await env.sleep('2s');
      expect(room.active.size).toBe(10);
      [1, 2, 3, 4, 5].forEach((fan) => room.active.delete(fan)); // five windows end
      await env.sleep('2s');
      await eventually(async () => expect(room.admittedInOrder).toHaveLength(15));
      expect(room.maxActiveSeen).toBe(10);
    });
  });

  it('pause stops admission and resume restarts it; the validator refuses nonsense', async () => {
    const room = new FakeRoom(100);
    await withController(room, {}, async (controller) => {
      const paused = await controller.executeUpdate(queueSettingsUpdate, { args: [{ paused: true }] });
      expect(paused.paused).toBe(true);
      const before = room.admittedInOrder.length;
      await env.sleep('5s');
      expect(room.admittedInOrder.length).toBe(before);
      await controller.executeUpdate(queueSettingsUpdate, { args: [{ paused: false, admitPerSecond: 10 }] });
      await env.sleep('3s');
      await eventually(async () => expect(room.admittedInOrder.length).toBeGreaterThan(before + 10));
      await expect(controller.executeUpdate(queueSettingsUpdate, { args: [{ admitPerSecond: -1 }] })).rejects.toThrow();
      expect((await controller.query(queueStateQuery)).admitPerSecond).toBe(10);
    });
  });

  it('continues as new keeping its settings and its count, and loses no one', async () => {
    const room = new FakeRoom(1000);
    await withController(room, { ticksPerRun: 3, tickMs: 200 }, async (controller) => {
      await controller.executeUpdate(queueSettingsUpdate, { args: [{ admitPerSecond: 7, maxActive: 500 }] });
      const firstRun = (await controller.describe()).runId;
      await env.sleep('2s');
      await eventually(async () => expect((await controller.describe()).runId).not.toBe(firstRun));
      // Pause, so that no tick is in flight while the counts are compared.
      await controller.executeUpdate(queueSettingsUpdate, { args: [{ paused: true }] });
      await env.sleep('1s');
      const state = await controller.query(queueStateQuery);
      expect(state).toMatchObject({ admitPerSecond: 7, maxActive: 500, paused: true });
      expect(state.admittedTotal).toBe(room.admittedInOrder.length);
      expect(room.admittedInOrder).toEqual(Array.from({ length: room.admittedInOrder.length }, (_, i) => i + 1));
    });
  });
});
