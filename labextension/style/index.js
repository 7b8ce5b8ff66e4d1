import './base.css';
import './lifecycle.css';
import './results.css';
