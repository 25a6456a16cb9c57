import { MemoryQueue } from '../../src/queue/memory-queue.js';
import { queueConformance } from './queue-conformance.js';

queueConformance('MemoryQueue', (o) => new MemoryQueue(o));
