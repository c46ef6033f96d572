namespace Writeback.Block;

/// <summary>What a fault rule does to a bio it matches.</summary>
public enum FaultAction
{
    /// <summary>Complete the bio with the rule's status, without touching the media.</summary>
    Fail,

    /// <summary>Complete it normally, after the rule's extra delay.</summary>
    Delay,

    /// <summary>Complete a write successfully without writing it (dm-flakey's drop_writes).</summary>
    DropWrite,
}
