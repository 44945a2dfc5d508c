"""Lead and assisting handlers (主办 / 协办) on the case page: ask an organisation to assist, its notes, its part done."""
