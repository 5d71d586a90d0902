// The one barrel the worker bundles: every workflow type, and nothing else.
export { fanJourney } from './fan-journey';
export { admissionController } from './admission-controller';
export { ticketCancellation } from './ticket-cancellation';
export { showCancellation } from './show-cancellation';
