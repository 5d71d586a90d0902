import { admissionHeldReason, planByInventory } from '../../activities/admission';

describe('admission by the seats left (planByInventory)', () => {
  it('keeps active fans at or under ceil(seats left × admitPerSeat), never above the operator’s maxActive', () => {
    expect(planByInventory({ bookable: 5, held: 0 }, 1000, 1)).toEqual({ maxActive: 5, admitNone: false, soldOut: false });
    // Held seats still count: they come back if the hold lapses, and their holders are among the active fans.
    expect(planByInventory({ bookable: 3, held: 4 }, 1000, 1)).toEqual({ maxActive: 7, admitNone: false, soldOut: false });
    expect(planByInventory({ bookable: 3, held: 0 }, 1000, 1.5)).toMatchObject({ maxActive: 5 });
    // A factor under 1 still lets one fan in for the last seat.
    expect(planByInventory({ bookable: 1, held: 0 }, 1000, 0.25)).toMatchObject({ maxActive: 1, admitNone: false });
    expect(planByInventory({ bookable: 30_000, held: 0 }, 1000, 1)).toMatchObject({ maxActive: 1000 });
  });

  it('admits nobody while every seat left is held, and calls the show sold out when none is left', () => {
    expect(planByInventory({ bookable: 0, held: 2 }, 1000, 3)).toEqual({ maxActive: 0, admitNone: true, soldOut: false });
    expect(planByInventory({ bookable: 0, held: 0 }, 1000, 3)).toEqual({ maxActive: 0, admitNone: true, soldOut: true });
  });
});

describe('why waiting fans are held back (admissionHeldReason)', () => {
  const left = { bookable: 2, held: 1 };
  const plan = planByInventory(left, 1000, 1);
  it('names the operator’s pause first, then all seats held, then a cap reached by the seats left', () => {
    expect(admissionHeldReason({ paused: true, waiting: 5, active: 0, maxActive: 1000, plan, left })).toBe('PAUSED_BY_OPERATOR');
    expect(admissionHeldReason({ paused: false, waiting: 5, active: 3, maxActive: 1000, plan: planByInventory({ bookable: 0, held: 3 }, 1000, 1), left: { bookable: 0, held: 3 } })).toBe('ALL_SEATS_HELD');
    expect(admissionHeldReason({ paused: false, waiting: 5, active: 3, maxActive: 1000, plan, left })).toBe('ADMITTED_UP_TO_SEATS_LEFT');
  });

  it('says nothing when nobody waits, when fans are still being admitted, or when the operator’s maxActive is what binds', () => {
    expect(admissionHeldReason({ paused: true, waiting: 0, active: 0, maxActive: 1000, plan, left })).toBeUndefined();
    expect(admissionHeldReason({ paused: false, waiting: 5, active: 2, maxActive: 1000, plan, left })).toBeUndefined();
    const many = { bookable: 5000, held: 0 };
    expect(admissionHeldReason({ paused: false, waiting: 5, active: 10, maxActive: 10, plan: planByInventory(many, 10, 1), left: many })).toBeUndefined();
    expect(admissionHeldReason({ paused: false, waiting: 5, active: 3, maxActive: 1000 })).toBeUndefined();
  });
});
